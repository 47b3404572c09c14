/**
 * What PostgreSQL, the JSON canonicalizer and every text column refuse: a NUL
 * character (text cannot hold U+0000) and an unpaired UTF-16 surrogate (not
 * Unicode, so neither UTF-8 nor RFC 8785 can encode it). Null when the string is fine.
 */
export function unstorableText(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000), which is not allowed'
  if (!s.isWellFormed()) return 'contains an unpaired surrogate (not valid Unicode)'
  return null
}

/**
 * About the memory V8 holds a string's characters in: one byte each while every character is Latin-1, two
 * otherwise (then the whole string is two-byte). What bounded caches of rendered JSON count.
 */
export function stringBytes(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the Latin-1 range starts at U+0000, on purpose
  return /[^\u0000-\u00ff]/.test(s) ? s.length * 2 : s.length
}
