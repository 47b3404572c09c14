import type { Deps } from '../deps.ts'

/** Signs a token with the service's own key, exactly as an external issuer would, for local use. */
export async function mintDevToken(
  deps: Pick<Deps, 'config' | 'keys' | 'now'>,
  input: { sub: string; name?: string | undefined; scope?: string | undefined }
) {
  const ttl = deps.config.auth.tokenTtlSeconds
  const claims: Record<string, unknown> = {}
  if (input.name) claims.name = input.name
  if (input.scope !== undefined) claims.scope = input.scope.split(' ').filter(Boolean).join(' ')
  const accessToken = await deps.keys.signJwt(claims, {
    issuer: deps.config.publicUrl,
    audience: deps.config.auth.audience,
    subject: input.sub,
    ttlSeconds: ttl,
    now: deps.now()
  })
  return { accessToken, tokenType: 'Bearer' as const, expiresIn: ttl }
}
