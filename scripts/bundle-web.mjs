// Bundles the web console (web/) into dist/web: index.html, console.js (Preact, htm, Cytoscape.js and the pages,
// minified) and console.css. No CDN: the DM serves these three files itself, machines may be offline.
// Prints the gzipped size of JS+CSS, the figure the console's budget (300 KB) is about.
import { build } from 'esbuild'
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const out = 'dist/web'
mkdirSync(out, { recursive: true })
await build({
  entryPoints: { console: 'web/src/main.ts' },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' }
})
copyFileSync('web/index.html', `${out}/index.html`)
copyFileSync('web/console.css', `${out}/console.css`)
const gzipped = ['console.js', 'console.css'].reduce((sum, f) => sum + gzipSync(readFileSync(`${out}/${f}`), { level: 9 }).length, 0)
if (process.argv.includes('--size')) console.log(`web console: ${(gzipped / 1024).toFixed(1)} KB gzipped (JS+CSS)`)
