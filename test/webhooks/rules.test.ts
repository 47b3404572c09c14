import t from 'tap'
import {
  checkWebhookUrl,
  deliveryPayload,
  forbiddenAddress,
  RETRY_DELAYS_MS,
  retryDelayMs,
  shouldDisable
} from '../../src/webhooks/webhook.rules.ts'

t.test('forbiddenAddress: every range a webhook must not reach, in each of its spellings', async (t) => {
  const refused = [
    '0.0.0.0',
    '10.0.0.1',
    '100.64.0.1',
    '127.0.0.1',
    '127.255.255.254',
    '169.254.169.254',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '0:0:0:0:0:ffff:10.0.0.1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'ff02::1',
    'not-an-ip'
  ]
  for (const a of refused) t.not(forbiddenAddress(a), null, `${a} refused`)
  const allowed = ['8.8.8.8', '93.184.215.14', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']
  for (const a of allowed) t.equal(forbiddenAddress(a), null, `${a} allowed`)
})

t.test('checkWebhookUrl: https and public literals unless private targets are allowed', async (t) => {
  t.same(checkWebhookUrl('https://example.com/x', false), { host: 'example.com', literal: false })
  t.same(checkWebhookUrl('https://8.8.8.8/x', false), { host: '8.8.8.8', literal: true })
  t.throws(() => checkWebhookUrl('http://example.com/x', false), { code: 'WEBHOOK_URL_NOT_ALLOWED' })
  t.throws(() => checkWebhookUrl('https://[::1]/x', false), { code: 'WEBHOOK_URL_NOT_ALLOWED' })
  t.same(checkWebhookUrl('http://127.0.0.1:8080/x', true), { host: '127.0.0.1', literal: true })
  t.throws(() => checkWebhookUrl('file:///etc/passwd', true), { code: 'WEBHOOK_URL_NOT_ALLOWED' })
})

t.test('retryDelayMs: the schedule with ±20 % jitter, then no more', async (t) => {
  t.equal(RETRY_DELAYS_MS.reduce((a, b) => a + b, 0) > 24 * 3_600_000, true, 'over 24 hours in all')
  for (const [i, base] of RETRY_DELAYS_MS.entries()) {
    t.equal(retryDelayMs(i + 1, 0), Math.round(base * 0.8))
    const most = retryDelayMs(i + 1, 0.999_999)!
    t.ok(most > base * 1.19 && most <= base * 1.2, `attempt ${i + 1}: at most +20 %`)
  }
  t.equal(retryDelayMs(RETRY_DELAYS_MS.length + 1, 0.5), null, 'failed after the 8th attempt')
})

t.test('shouldDisable: 5 days of failures without a success', async (t) => {
  const since = new Date('2026-01-01T00:00:00Z')
  t.notOk(shouldDisable(null, new Date('2027-01-01T00:00:00Z')))
  t.notOk(shouldDisable(since, new Date('2026-01-05T23:59:59Z')))
  t.ok(shouldDisable(since, new Date('2026-01-06T00:00:00Z')))
})

t.test('deliveryPayload: ids and types only', async (t) => {
  const body = deliveryPayload({
    partnershipId: 'p',
    eventSeq: 7,
    eventType: 'incident.reported',
    subjectType: 'incident',
    subjectId: 'i',
    actorId: 'a',
    eventAt: new Date('2026-01-01T00:00:00Z')
  })
  t.same(JSON.parse(body), {
    type: 'incident.reported',
    timestamp: '2026-01-01T00:00:00.000Z',
    data: {
      partnershipId: 'p',
      seq: 7,
      eventType: 'incident.reported',
      subject: { type: 'incident', id: 'i' },
      actorId: 'a'
    }
  })
})
