import t from 'tap'
import { agendaBodies } from '../../src/agenda/agenda.render.ts'
import { stringBytes } from '../../src/lib/text.ts'

t.test('stringBytes: one byte a character while all are Latin-1, two once any is not', async (t) => {
  t.equal(stringBytes(''), 0)
  t.equal(stringBytes('{"title":"Phone transparency"}'), 30)
  t.equal(stringBytes('Café ü ß'), 8, 'Latin-1 accents are still one byte each')
  t.equal(stringBytes('Ваше соглашение'), 30, 'Cyrillic: two bytes each')
  t.equal(stringBytes('a🙂'), 6, 'an emoji is two UTF-16 units, and makes the whole string two-byte')
})

t.test('kept agendas are bounded by what their text holds in memory', async (t) => {
  const kept = agendaBodies(100_000)!
  const lists = `"reviews":[],"proposals":[${'{"title":"x"},'.repeat(600)}{}]}` // about 8.4 kB, ASCII
  for (let k = 0; k < 30; k++) kept.set(`p/${k}`, { role: 'partner', head: 1, validUntil: null, lists })
  t.equal(kept.size, 11, 'as many as fit at one byte a character (and 200 for the entry), the oldest out first')
  t.ok(kept.calculatedSize <= 100_000, 'never more than the bound')
  t.ok(kept.has('p/29') && !kept.has('p/18'), 'the most recent kept')
  const wide = lists.replace('x', 'ж')
  t.equal(stringBytes(wide), wide.length * 2, 'a text with one Cyrillic letter counts twice')
  kept.set('p/wide', { role: 'partner', head: 1, validUntil: null, lists: wide })
  t.equal(kept.size, 10, 'so it takes the room of two: two ASCII ones made way for it')
})
