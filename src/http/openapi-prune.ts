import { jsonSchemaTransformObject } from 'fastify-type-provider-zod'

type Doc = { components?: { schemas?: Record<string, unknown> } } & Record<string, unknown>

/**
 * The zod provider emits an input and an output twin of every registered
 * schema; keep only the components something references, so the document a
 * frontend generates clients from holds no dead types.
 */
export const transformObject: typeof jsonSchemaTransformObject = (document) => {
  const doc = jsonSchemaTransformObject(document) as Doc
  const schemas = doc.components?.schemas
  if (!schemas) return doc as ReturnType<typeof jsonSchemaTransformObject>
  const used = new Set<string>()
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit)
      return
    }
    if (!node || typeof node !== 'object') return
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
        const name = v.slice('#/components/schemas/'.length)
        if (!used.has(name)) {
          used.add(name)
          visit(schemas[name])
        }
      } else visit(v)
    }
  }
  visit({ ...doc, components: { ...doc.components, schemas: {} } })
  doc.components = {
    ...doc.components,
    schemas: Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)))
  }
  return doc as ReturnType<typeof jsonSchemaTransformObject>
}
