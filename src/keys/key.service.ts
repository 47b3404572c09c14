import { createPrivateKey, randomUUID, sign } from 'node:crypto'
import {
  compactVerify,
  createLocalJWKSet,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
  SignJWT
} from 'jose'
import type { Db } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import * as repo from './key.repo.ts'

export const SERVICE_ALG = 'EdDSA'

/** The service's signing identity: tokens it issues, receipts, checkpoints. */
export interface ServiceKeys {
  readonly kid: string
  /** The public keys (active and retired) as published at /.well-known/jwks.json. */
  readonly jwks: JSONWebKeySet
  readonly getKey: JWTVerifyGetKey
  signJwt(
    claims: Record<string, unknown>,
    options: { issuer: string; audience: string; subject: string; ttlSeconds: number; now: Date }
  ): Promise<string>
  /** A compact JWS over a JSON payload (receipts, checkpoints), with `typ` naming what it is. */
  signJws(payload: Record<string, unknown>, typ: string): Promise<string>
  /**
   * Verifies a compact JWS of the service (any of its keys, current or retired, chosen by `kid`) and that its
   * `typ` is exactly `typ`: a receipt is never a checkpoint, a checkpoint never a receipt (nor a token).
   */
  verifyJws(jws: string, typ: string): Promise<JwsVerification>
}

/** What verifyJws found: the payload of a good JWS of the expected type, or why not. */
export type JwsVerification =
  | { ok: true; kid: string; payload: unknown }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'wrong-type' }

/** The shape of a compact JWS (RFC 7515 §7.1): three base64url parts. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * Loads the active Ed25519 key, generating it on the very first start. Several
 * instances starting at once converge on one key: the insert loses quietly to
 * the partial unique index and every instance reads back the winner.
 */
export async function loadServiceKeys(db: Db, now: () => Date): Promise<ServiceKeys> {
  let active = await repo.findActiveKey(db)
  if (!active) {
    await repo.insertKeyIfNoneActive(db, await newKeyRow(now()))
    active = await repo.findActiveKey(db)
    if (!active) throw new Error('no active service key after creating one')
  }
  const all = await repo.listKeys(db)
  const jwks: JSONWebKeySet = { keys: all.map((k) => k.publicJwk as JWK) }
  const privateKey = await importJWK(active.privateJwk as JWK, SERVICE_ALG)
  // Receipts are signed on every sign-off: node:crypto signs Ed25519 synchronously, several times faster
  // than a WebCrypto job, and the bytes are the same (Ed25519 is deterministic; jose verifies them in the tests).
  const signingKey = createPrivateKey({ key: active.privateJwk as JWK & { kty: string }, format: 'jwk' })
  const kid = active.kid
  const getKey = createLocalJWKSet(jwks)
  return {
    kid,
    jwks,
    getKey,
    async signJwt(claims, o) {
      const iat = Math.floor(o.now.getTime() / 1000)
      return new SignJWT(claims)
        .setProtectedHeader({ alg: SERVICE_ALG, kid, typ: 'JWT' })
        .setIssuer(o.issuer)
        .setAudience(o.audience)
        .setSubject(o.subject)
        .setIssuedAt(iat)
        .setExpirationTime(iat + o.ttlSeconds)
        .setJti(randomUUID())
        .sign(privateKey)
    },
    async signJws(payload, typ) {
      // RFC 7515 compact serialization: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
      const signingInput = `${Buffer.from(JSON.stringify({ alg: SERVICE_ALG, kid, typ })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
      return `${signingInput}.${sign(null, Buffer.from(signingInput), signingKey).toString('base64url')}`
    },
    async verifyJws(jws, typ) {
      if (!COMPACT_JWS.test(jws)) return { ok: false, reason: 'malformed' }
      try {
        const { payload, protectedHeader } = await compactVerify(jws, getKey, { algorithms: [SERVICE_ALG] })
        if (protectedHeader.typ !== typ) return { ok: false, reason: 'wrong-type' }
        return { ok: true, kid: String(protectedHeader.kid), payload: JSON.parse(new TextDecoder().decode(payload)) }
      } catch (err) {
        // A header or payload that is not JSON, or a header jose refuses (no alg, crit it does not know): not a JWS.
        if (err instanceof errors.JWSInvalid || err instanceof SyntaxError) return { ok: false, reason: 'malformed' }
        return { ok: false, reason: 'bad-signature' } // wrong signature, unknown kid, another algorithm
      }
    }
  }
}

/**
 * Makes a new active key and retires the one in use, in one transaction: the retired key stays in the
 * JWKS (by its `kid`), so every receipt, checkpoint and token it signed keeps verifying. A running
 * process keeps the keys it loaded at start: restart every instance after a rotation (each then signs
 * with the new key and publishes both). Returns the new key's kid.
 */
export async function rotateServiceKey(db: Db, now: () => Date): Promise<{ kid: string; retired: number }> {
  const row = await newKeyRow(now())
  return transaction(db, async (tx) => {
    const retired = await repo.retireActiveKey(tx)
    await repo.insertKeyIfNoneActive(tx, row)
    return { kid: row.kid, retired }
  })
}

async function newKeyRow(at: Date): Promise<repo.ServiceKeyRow> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const kid = randomUUID()
  return {
    kid,
    status: 'active',
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: SERVICE_ALG, use: 'sig' },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: SERVICE_ALG },
    createdAt: at
  }
}
