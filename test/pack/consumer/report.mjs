/** Prints what a consumer script found as one JSON line, for the pack test. */
export function report(fields) {
  console.log(JSON.stringify({ runtime: process.versions.bun ? 'bun' : 'node', ...fields }))
}
