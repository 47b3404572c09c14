import type { FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from './errors.ts'

/**
 * Strong ETags for mutable resources, derived from the row's version counter.
 * Mutations require `If-Match`; the service compares the version inside its
 * transaction (UPDATE … WHERE version = expected), so a concurrent change
 * cannot slip between check and write.
 */
export const etagOf = (version: number): string => `"v${version}"`

export function setEtag (reply: FastifyReply, version: number): FastifyReply {
  return reply.header('etag', etagOf(version))
}

/**
 * The version the client last saw, from `If-Match`. Missing → 428; `*` → null
 * (any version); a list matches when it names the current version, so the
 * service receives every listed version. Weak or foreign tags never match.
 */
export function expectedVersions (request: FastifyRequest): number[] | null {
  const header = request.headers['if-match']
  if (header === undefined || header.trim() === '') {
    throw new DomainError('PRECONDITION_REQUIRED', 'send If-Match with the ETag you last read of this resource')
  }
  if (header.trim() === '*') return null
  const versions = header.split(',').map((s) => /^\s*"v([1-9][0-9]{0,9})"\s*$/.exec(s)?.[1]).filter((v): v is string => v !== undefined).map(Number)
  if (versions.length === 0) throw new DomainError('PRECONDITION_FAILED', 'If-Match does not name a current ETag of this resource')
  return versions
}

/** Throws 412 unless the current version is one the client named (or the client sent `*`). */
export function assertVersion (expected: number[] | null, current: number): void {
  if (expected !== null && !expected.includes(current)) {
    throw new DomainError('PRECONDITION_FAILED', 'the resource changed since you read it; GET it again and retry', { headers: { etag: etagOf(current) } })
  }
}
