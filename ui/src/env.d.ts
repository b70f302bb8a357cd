// esbuild bundles imported stylesheets into the build's .css file (scripts/build-ui.mjs).
declare module '*.css';
