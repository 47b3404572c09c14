// Writes openapi/openapi.json (npm run openapi). A test fails when the committed file drifts.
import { mkdir, writeFile } from 'node:fs/promises'
import { generateOpenApi } from '../src/openapi.ts'

await mkdir(new URL('../openapi/', import.meta.url), { recursive: true })
await writeFile(new URL('../openapi/openapi.json', import.meta.url), await generateOpenApi())
process.stdout.write('wrote openapi/openapi.json\n')
