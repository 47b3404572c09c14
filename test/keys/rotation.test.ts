import { compactVerify, createLocalJWKSet } from 'jose'
import t from 'tap'
import { rotateServiceKey } from '../../src/keys/key.service.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'

// Two apps on one database: the first started before the rotation, the second after (as a restarted instance).
const before = await buildTestApp(t)
const kit = agreementKit(before)
const [alice, bob] = [await kit.person('Alice'), await kit.person('Bob')]

t.test('receipts, checkpoints and tokens signed before a rotation verify after it', async (t) => {
  const { pid } = await kit.partnership(alice, [bob])
  const aid = await kit.activeAgreement(alice, [bob], pid)
  const receipts: string[] = (await kit.version(alice, pid, aid, 1)).body.signatures.map(
    (s: { receipt: string }) => s.receipt
  )
  const oldCheckpoint = (
    await before.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/checkpoint`, token: alice.token })
  ).json()
  const oldKid = before.deps.keys.kid

  const { kid: newKid, retired } = await rotateServiceKey(before.database.db, before.clock.now, before.deps.kek)
  t.equal(retired, 1, 'the key in use was retired')
  t.not(newKid, oldKid)

  const after = await buildTestApp(t, { database: before.database })
  t.equal(after.deps.keys.kid, newKid, 'a restarted instance signs with the new key')
  const jwks = (await after.request({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.same(jwks.keys.map((k: { kid: string }) => k.kid).sort(), [oldKid, newKid].sort(), 'and publishes both')
  t.notOk(
    jwks.keys.some((k: Record<string, unknown>) => 'd' in k),
    'public keys only'
  )

  for (const receipt of receipts) {
    const { protectedHeader } = await compactVerify(receipt, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] })
    t.equal(protectedHeader.kid, oldKid, 'an old receipt verifies against the new JWKS')
  }
  t.match(await after.deps.keys.verifyJws(receipts[0]!, 'accord-receipt+jws'), { ok: true, kid: oldKid })

  const fresh = (
    await after.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/checkpoint`, token: alice.token })
  ).json()
  t.equal(fresh.kid, newKid, 'a new checkpoint is signed with the new key')
  const res = await after.request({
    method: 'POST',
    url: `/v1/partnerships/${pid}/audit/verify`,
    token: alice.token,
    body: { checkpoints: [oldCheckpoint.checkpoint, fresh.checkpoint] }
  })
  t.match(res.json().results, [
    { status: 'ok', kid: oldKid },
    { status: 'ok', kid: newKid }
  ])
  t.equal(
    (await after.request({ method: 'GET', url: `/v1/partnerships/${pid}`, token: alice.token })).statusCode,
    200,
    'a token signed with the retired key is still accepted'
  )

  const again = await rotateServiceKey(before.database.db, before.clock.now, before.deps.kek)
  t.equal(again.retired, 1, 'rotating again retires the second key; exactly one stays active')
})
