import { accessSync, constants } from 'node:fs'
import path from 'node:path'

/** `which chromium`: the first executable named chromium on PATH (Debian's package), or null. */
export function findChromium(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'chromium')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      /* next */
    }
  }
  return null
}
