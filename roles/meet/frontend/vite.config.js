// The meeting app's frontend, bundled into dist/ (served by the sovmeet backend).
// Everything it loads is in the bundle: no CDN, no web fonts, no analytics.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
  },
});
