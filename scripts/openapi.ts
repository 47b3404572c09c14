// Writes openapi/openapi.json and, from it, the client's types openapi/accord.d.ts (npm run openapi).
// Tests fail when either committed file drifts from what its generator gives.
import { mkdir, writeFile } from 'node:fs/promises'
import { generateOpenApi } from '../src/openapi.ts'
import { generateClientTypes } from './client-types.ts'

const document = await generateOpenApi()
await mkdir(new URL('../openapi/', import.meta.url), { recursive: true })
await writeFile(new URL('../openapi/openapi.json', import.meta.url), document)
await writeFile(new URL('../openapi/accord.d.ts', import.meta.url), await generateClientTypes(document))
process.stdout.write('wrote openapi/openapi.json and openapi/accord.d.ts\n')
