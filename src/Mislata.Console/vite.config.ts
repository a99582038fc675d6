import { defineConfig } from 'vite';

// Served by the gateway under /console/ as static files; no inline script or style reaches the page (the gateway's
// Content-Security-Policy for /console allows scripts and styles from 'self' only).
export default defineConfig({
  base: '/console/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
