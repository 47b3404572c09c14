import type { ValidateFunction } from 'ajv'
import Ajv2020 from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

// Both are CommonJS modules whose module.exports also carries the class (function) as `default`: that one both Node and TypeScript see.
const Ajv = Ajv2020.default
const withFormats = addFormats.default

import type { Schema } from './schema-arbitrary.ts'

export interface Parameter {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  schema: Schema
}
export interface Operation {
  method: string
  path: string
  /** `GET /v1/partnerships/{pid}`: how the report names it. */
  id: string
  parameters: Parameter[]
  /** The JSON schema of the request body, or undefined when the operation documents none. */
  body: Schema | undefined
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>
}

export interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Parameter[]
        requestBody?: { content: Record<string, { schema: Schema }> }
        responses: Operation['responses']
      }
    >
  >
  components: { schemas: Record<string, Schema> }
}

/** Every operation of the document, in document order. */
export function operationsOf(doc: OpenApiDocument): Operation[] {
  const out: Operation[] = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      out.push({
        method: method.toUpperCase(),
        path,
        id: `${method.toUpperCase()} ${path}`,
        parameters: op.parameters ?? [],
        body: op.requestBody?.content['application/json']?.schema,
        responses: op.responses
      })
    }
  }
  return out
}

/** What a response did that the document does not allow. */
export interface Violation {
  kind:
    | '5xx'
    | 'undocumented-status'
    | 'undocumented-content-type'
    | 'body-not-json'
    | 'body-violates-schema'
    | 'body-on-empty-response'
    | 'stream-not-open'
    | 'undeclared-header'
    | 'not-sendable'
  detail: string
  /** What the report groups by after the operation, when not the status (the undeclared header's name). */
  about?: string
}

export interface Answer {
  statusCode: number
  headers: Record<string, unknown>
  body: string
}

const COMPONENTS = 'https://accord.test/components'

/**
 * Checks answers against the document: the status is documented for the
 * operation, the content type is one documented for that status (parameters
 * such as charset ignored), and a JSON body validates against its schema
 * (ajv, JSON Schema 2020-12, formats on, the document's components resolving
 * every $ref). Validators are compiled once per operation, status and media type.
 */
export class ContractChecker {
  private readonly ajv: InstanceType<typeof Ajv>
  private readonly validators = new Map<string, ValidateFunction>()

  constructor(doc: OpenApiDocument) {
    this.ajv = new Ajv({ allErrors: false, strict: false, validateFormats: true })
    withFormats(this.ajv)
    this.ajv.addSchema({ $id: COMPONENTS, $defs: rebase(doc.components.schemas) })
  }

  check(op: Operation, answer: Answer, sent: Record<string, string>): Violation[] {
    const status = answer.statusCode
    if (status >= 500) return [{ kind: '5xx', detail: answer.body.slice(0, 300) }]
    return [...this.headersHonoured(op, answer, sent), ...this.answerDocumented(op, answer)]
  }

  /**
   * A header the operation does not declare must not change its answer: a
   * 412/428 means it reads If-Match; a 422, a replay or a refused key means it
   * reads Idempotency-Key. Clients generated from the document would never send them.
   */
  private headersHonoured(op: Operation, answer: Answer, sent: Record<string, string>): Violation[] {
    const declared = new Set(op.parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase()))
    const out: Violation[] = []
    if ((answer.statusCode === 412 || answer.statusCode === 428) && !declared.has('if-match')) {
      out.push({
        kind: 'undeclared-header',
        about: 'If-Match',
        detail: `If-Match decided a ${answer.statusCode}, but the operation declares no If-Match header parameter`
      })
    }
    const key = sent['idempotency-key']
    const readsKey =
      answer.headers['idempotent-replayed'] !== undefined ||
      answer.statusCode === 422 ||
      answer.body.includes('"path":"/idempotency-key"')
    if (key !== undefined && readsKey && !declared.has('idempotency-key')) {
      out.push({
        kind: 'undeclared-header',
        about: 'Idempotency-Key',
        detail: `Idempotency-Key decided this answer (${answer.statusCode}${answer.headers['idempotent-replayed'] ? ', replayed' : ''}), but the operation declares no Idempotency-Key header parameter`
      })
    }
    return out
  }

  private answerDocumented(op: Operation, answer: Answer): Violation[] {
    const status = answer.statusCode
    const documented = op.responses[String(status)]
    if (!documented)
      return [
        {
          kind: 'undocumented-status',
          detail: `documented: ${Object.keys(op.responses).join(', ')}; body: ${answer.body.slice(0, 200)}`
        }
      ]
    const contentType = String(answer.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase()
    const media = documented.content ?? {}
    if (Object.keys(media).length === 0) {
      return answer.body === ''
        ? []
        : [{ kind: 'body-on-empty-response', detail: `${contentType}: ${answer.body.slice(0, 200)}` }]
    }
    const entry = media[contentType]
    if (!entry)
      return [
        {
          kind: 'undocumented-content-type',
          detail: `got "${contentType || '(none)'}", documented: ${Object.keys(media).join(', ')}`
        }
      ]
    if (!contentType.endsWith('json') || !entry.schema) return []
    let parsed: unknown
    try {
      parsed = JSON.parse(answer.body)
    } catch {
      return [{ kind: 'body-not-json', detail: answer.body.slice(0, 200) }]
    }
    const validate = this.validatorFor(`${op.id} ${status} ${contentType}`, entry.schema)
    if (validate(parsed)) return []
    const first = validate.errors?.[0]
    return [
      {
        kind: 'body-violates-schema',
        detail: `${first?.instancePath || '/'} ${first?.message ?? ''} (${JSON.stringify(first?.params)}); body: ${answer.body.slice(0, 200)}`
      }
    ]
  }

  private validatorFor(key: string, schema: Schema): ValidateFunction {
    const known = this.validators.get(key)
    if (known) return known
    const compiled = this.ajv.compile(rebase(schema) as object)
    this.validators.set(key, compiled)
    return compiled
  }
}

/** A copy of `schema` whose `#/components/schemas/X` refs point into the registered components. */
function rebase(schema: unknown): any {
  if (Array.isArray(schema)) return schema.map(rebase)
  if (schema === null || typeof schema !== 'object') return schema
  return Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' ? v.replace('#/components/schemas/', `${COMPONENTS}#/$defs/`) : rebase(v)
    ])
  )
}
