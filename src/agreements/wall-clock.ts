import { LRUCache } from 'lru-cache'

// Wall-clock time in an IANA zone, both ways, independent of the process's TZ: the recurrence of a review cadence
// (cadence.rules.ts) runs on floating wall-clock dates, and only its last step maps a wall time to an instant.

const formatters = new LRUCache<string, Intl.DateTimeFormat>({ max: 1000 })
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric'
    })
    formatters.set(tz, f)
  }
  return f
}

const EN_US = /^(\d{1,2})\/(\d{1,2})\/(\d{4}), (\d{2}):(\d{2}):(\d{2})$/

/** The wall-clock time of an instant in `tz`, as a "floating" Date whose UTC fields are that wall time. */
export function wallClock(instant: Date, tz: string): Date {
  // format() and one regular expression cost half of formatToParts (this runs ~10 times per activation);
  // anything but the usual en-US shape (a year outside 1000–9999) takes the general path.
  const m = EN_US.exec(formatter(tz).format(instant))
  if (m !== null)
    return new Date(Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6])))
  const p = Object.fromEntries(
    formatter(tz)
      .formatToParts(instant)
      .map((x) => [x.type, Number(x.value)])
  )
  return new Date(Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!))
}

const offsetAt = (tz: string, instant: number): number =>
  wallClock(new Date(instant), tz).getTime() - Math.floor(instant / 1000) * 1000

/**
 * The instant at which a wall-clock time (a floating Date) happens in `tz`.
 * A time skipped by a DST jump moves forward by the jump; a repeated one takes
 * its first occurrence.
 */
export function zonedInstant(wall: Date, tz: string): Date {
  const w = wall.getTime()
  // The offsets in force a day before and a day after cover any transition near this wall time.
  const candidates = [...new Set([offsetAt(tz, w - 86_400_000), offsetAt(tz, w + 86_400_000)])].map(
    (offset) => w - offset
  )
  const real = candidates.filter((t) => t + offsetAt(tz, t) === w)
  // A repeated time takes its first occurrence; a skipped one moves forward by the jump (the offset before it).
  return new Date(real.length > 0 ? Math.min(...real) : Math.max(...candidates))
}
