/**
 * Storage writes survive transient faults: a write that throws (SQLITE_BUSY behind another writer,
 * a dropped connection) is reported through onError and tried again after 10, 50, 250, 1000 and
 * 3000 ms before the caller gives up. The pauses are real time whatever the engine's Clock: they
 * wait for a resource, not for a moment in a workflow.
 */

const PAUSES_MS = [10, 50, 250, 1_000, 3_000]

export async function persistWithRetries<T>(write: () => Promise<T>, reportError: (error: unknown) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write()
    } catch (error) {
      const pause = PAUSES_MS[attempt]
      if (pause === undefined) throw error
      reportError(error)
      await new Promise((resolve) => setTimeout(resolve, pause))
    }
  }
}
