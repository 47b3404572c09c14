import t from 'tap'
import { DomainError } from '../../src/errors.ts'
import { problemBody } from '../../src/http/problem.ts'

// A use case may answer facts with its error (`extra`: the open review's id, an incident's status); a fact named
// like a member of the problem itself (the fuzzer found `status: "resolved"` replacing the HTTP status) must not
// replace it: clients and the API document read `status`, `code`, `type`… as RFC 9457 and our catalog define them.
t.test('the facts a use case adds to a problem never replace its standard members', async (t) => {
  const request = { url: '/v1/x?y=1', id: 'req-1' } as Parameters<typeof problemBody>[1]
  for (const name of ['type', 'title', 'status', 'detail', 'code', 'instance', 'requestId', 'errors']) {
    const err = new DomainError('INCIDENT_STATUS', 'the incident is resolved', {
      extra: { [name]: 'resolved', incidentStatus: 'resolved' },
      ...(name === 'errors' ? { errors: [{ path: '/x', message: 'm' }] } : {})
    })
    const body = problemBody('http://h', request, err) as unknown as Record<string, unknown>
    t.not(body[name], 'resolved', `${name} stays the problem's own`)
    t.equal(body.status, 409)
    t.equal(body.code, 'incident-status')
    t.equal(body.incidentStatus, 'resolved', 'and the fact is answered under its own name')
  }
})
