import t from 'tap'
import { eventMessage, HEARTBEAT, resumeAfter, STREAM_OPENING } from '../../src/audit/event-stream.rules.ts'

t.test('eventMessage frames an event as one SSE message: id, event, data, blank line', async (t) => {
  t.equal(
    eventMessage({ seq: 7, type: 'version.signed', json: '{"seq":7}' }),
    'id: 7\nevent: version.signed\ndata: {"seq":7}\n\n'
  )
  t.equal(
    eventMessage({ seq: 8, type: 'a\nb', json: '{\n"seq":8\r\n}' }),
    'id: 8\nevent: ab\ndata: {\ndata: "seq":8\ndata: }\n\n',
    'a line break in the data gets its own data field, and none can end the type field early'
  )
})

t.test('the stream opens with its retry delay, and heartbeats are comments', async (t) => {
  t.match(STREAM_OPENING, /^retry: \d+\n\n$/)
  t.match(HEARTBEAT, /^:[^\n]*\n\n$/)
})

t.test('resumeAfter: Last-Event-ID wins over ?after=, else the start', async (t) => {
  t.equal(resumeAfter(5, 2), 5)
  t.equal(resumeAfter(undefined, 2), 2)
  t.equal(resumeAfter(0, 2), 0, 'Last-Event-ID: 0 is a seq like any other')
  t.equal(resumeAfter(undefined, undefined), 0)
})
