/** Builds dist/ for npm: per-file ESM JavaScript and .d.ts, then checks every exports target exists. */
export async function buildLibrary(): Promise<void> {
  // Filled in by the Node packaging work.
}
