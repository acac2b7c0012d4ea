/** Compiles the `reflow` CLI into one executable at dist/reflow with `bun build --compile`. */
export async function buildBinary(): Promise<void> {
  // Filled in by the CLI work.
}
