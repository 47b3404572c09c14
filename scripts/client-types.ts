import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript'

/**
 * The client's TypeScript types (openapi/accord.d.ts) for an OpenAPI document's text:
 * what openapi-typescript makes of it, unchanged, so the committed file is exactly what
 * the generator gives and a test can hold the two equal. `npm run openapi` writes both files.
 */
export async function generateClientTypes(document: string): Promise<string> {
  const ast = await openapiTS(JSON.parse(document), {
    silent: true,
    // Every default in the document belongs to an input (`draft`, `kind`, `appliesTo`, a page size): the
    // server fills it in, so a client may leave it out. openapi-typescript's default would make it required.
    defaultNonNullable: false
  })
  return `${COMMENT_HEADER}// Regenerate with \`npm run openapi\` (from openapi/openapi.json), never by hand.\n\n${astToString(ast)}`
}
