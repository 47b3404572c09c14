/**
 * An object's JSON without its closing brace, for members written after it as they are read
 * (`opened({ a: 1 })` is `{"a":1`). The object must have at least one member.
 */
export function opened(value: object): string {
  const json = JSON.stringify(value)
  if (!json.startsWith('{') || !json.endsWith('}') || json === '{}') throw new TypeError('not an object with members')
  return json.slice(0, -1)
}

/** What is between the brackets of a JSON array's text: `'[1,2]'` gives `'1,2'`, `'[]'` gives `''`. */
export function jsonArrayBody(text: string): string {
  if (!text.startsWith('[') || !text.endsWith(']')) throw new TypeError('not a JSON array')
  return text.slice(1, -1).trim()
}
