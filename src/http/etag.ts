import type { FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from './errors.ts'

/**
 * Strong ETags for mutable resources, derived from the row's version counter.
 * Mutations require `If-Match`. The header is read lazily: the service checks
 * it inside its transaction, after tenancy (a stranger gets 404, never a 428
 * that would confirm the resource exists) and against the locked row (a
 * concurrent change cannot slip between check and write).
 */
export const etagOf = (version: number): string => `"v${version}"`

export function setEtag (reply: FastifyReply, version: number): FastifyReply {
  return reply.header('etag', etagOf(version))
}

export interface Precondition {
  /** Throws 428 when If-Match is missing, 412 unless it names `current` (or is `*`). */
  assert(current: number): void
}

export function preconditionOf (request: FastifyRequest): Precondition {
  const header = request.headers['if-match']
  return {
    assert (current) {
      if (header === undefined || header.trim() === '') {
        throw new DomainError('PRECONDITION_REQUIRED', 'send If-Match with the ETag you last read of this resource')
      }
      if (header.trim() === '*') return
      const versions = header.split(',').map((s) => /^\s*"v([1-9][0-9]{0,9})"\s*$/.exec(s)?.[1]).filter((v) => v !== undefined).map(Number)
      if (!versions.includes(current)) {
        throw new DomainError('PRECONDITION_FAILED', 'the resource changed since you read it; GET it again and retry', { headers: { etag: etagOf(current) } })
      }
    }
  }
}

/** For use cases that are not HTTP-driven (and tests): any version. */
export const anyVersion: Precondition = { assert () {} }
