import { createPrivateKey, randomUUID, sign } from 'node:crypto'
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
  SignJWT
} from 'jose'
import type { Db } from '../db/client.ts'
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
}

/**
 * Loads the active Ed25519 key, generating it on the very first start. Several
 * instances starting at once converge on one key: the insert loses quietly to
 * the partial unique index and every instance reads back the winner.
 */
export async function loadServiceKeys(db: Db, now: () => Date): Promise<ServiceKeys> {
  let active = await repo.findActiveKey(db)
  if (!active) {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const kid = randomUUID()
    await repo.insertKeyIfNoneActive(db, {
      kid,
      status: 'active',
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: SERVICE_ALG, use: 'sig' },
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: SERVICE_ALG },
      createdAt: now()
    })
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
  return {
    kid,
    jwks,
    getKey: createLocalJWKSet(jwks),
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
    }
  }
}
