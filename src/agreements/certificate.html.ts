import type { Certificate } from './certificate.schemas.ts'

/** Text and attribute values made inert: every text of the page goes through here. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const e = escapeHtml
const who = (p: { userId: string; displayName: string | null }) =>
  p.displayName === null
    ? `<code>${e(p.userId)}</code>`
    : `${e(p.displayName)} <small><code>${e(p.userId)}</code></small>`
const when = (iso: string | null) => (iso === null ? '—' : `<time datetime="${e(iso)}">${e(iso)}</time>`)
const row = (label: string, value: string) => `<tr><th scope="row">${e(label)}</th><td>${value}</td></tr>`
const events = (list: Certificate['events']) =>
  list.length === 0
    ? '<p>No events.</p>'
    : `<table class="events"><thead><tr><th>seq</th><th>type</th><th>at</th><th>hash</th></tr></thead><tbody>${list
        .map(
          (x) =>
            `<tr><td>${x.seq}</td><td>${e(x.type)}</td><td>${when(x.at)}</td><td><code>${e(x.hash)}</code></td></tr>`
        )
        .join('')}</tbody></table>`

const STYLE = `
:root { font-family: system-ui, sans-serif; color: #111; line-height: 1.4 }
body { max-width: 60rem; margin: 2rem auto; padding: 0 1rem }
h1 { font-size: 1.6rem; margin-bottom: 0 } h2 { font-size: 1.25rem } h3 { font-size: 1.05rem }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 } th, td { text-align: left; vertical-align: top; padding: .2rem .4rem; border-bottom: 1px solid #ccc }
th[scope=row] { width: 11rem; font-weight: 600 }
code { font-family: ui-monospace, monospace; font-size: .8rem; word-break: break-all }
section.version { border: 1px solid #999; padding: .5rem 1rem; margin: 1rem 0; break-inside: avoid-page }
.jws { font-size: .7rem }
@page { size: A4; margin: 15mm }
@media print { body { margin: 0; max-width: none } section.version { border-color: #000 } a { color: inherit; text-decoration: none } }
`

/**
 * The certificate as a printable page: self-contained (no script, no external asset, its style inline),
 * every text escaped, the hashes in full, and how to check each of them without trusting the page.
 */
export function certificatePage(c: Certificate): string {
  const api = c.checkpoint.iss.replace(/\/+$/, '')
  const base = `${api}/v1/partnerships/${c.agreement.partnershipId}`
  const versions = c.versions
    .map(
      (
        v
      ) => `<section class="version"><h3>Version ${v.number}${v.title === null ? '' : `: ${e(v.title)}`} (${e(v.status)})</h3>
<table>${row('Kind', e(v.kind))}${row('Content hash', `<code>${e(v.contentHash)}</code>`)}${row('Previous hash', v.previousHash === null ? '—' : `<code>${e(v.previousHash)}</code>`)}${row('Based on', v.basedOn === null ? '—' : `version ${v.basedOn}`)}${row('Author', who(v.author))}${row('Required signers', v.requiredSigners.map(who).join('<br>') || '—')}${row('Created', when(v.createdAt))}${row('Proposed', when(v.proposedAt))}${row('Activated', when(v.activatedAt))}${row('Closed', when(v.closedAt))}</table>
<h4>Signatures</h4>${
        v.signatures.length === 0
          ? '<p>None.</p>'
          : `<table><thead><tr><th>signer</th><th>signed</th><th>revoked</th><th>receipt</th></tr></thead><tbody>${v.signatures
              .map(
                (s) =>
                  `<tr><td>${who(s)}</td><td>${when(s.signedAt)}</td><td>${when(s.revokedAt)}</td><td><code class="jws">${e(s.receipt)}</code></td></tr>`
              )
              .join('')}</tbody></table>`
      }
<h4>Events</h4>${events(v.events)}</section>`
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Certificate: ${e(c.agreement.title)}</title><style>${STYLE}</style></head>
<body>
<header><p>Accord · certificate of completion</p><h1>${e(c.agreement.title)}</h1></header>
<table>${row('Agreement', `<code>${e(c.agreement.id)}</code>`)}${row('Partnership', `<code>${e(c.agreement.partnershipId)}</code>`)}${row('Category', e(c.agreement.category))}${row('Created', when(c.agreement.createdAt))}${row('Certificate issued', when(c.issuedAt))}</table>
<h2>Versions</h2>
${versions}
<h2>Events about the agreement</h2>${events(c.events)}
<h2>Checkpoint of the log</h2>
<table>${row('Head seq', String(c.checkpoint.seq))}${row('Head hash', c.checkpoint.hash === null ? '—' : `<code>${e(c.checkpoint.hash)}</code>`)}${row('Signed at', when(c.checkpoint.at))}${row('Key', `<code>${e(c.checkpoint.kid)}</code>`)}${row('JWS', `<code class="jws">${e(c.checkpoint.checkpoint)}</code>`)}</table>
<h2>How to verify this</h2>
<ol>
<li><strong>Content hashes.</strong> Read a version (<code>GET ${e(base)}/agreements/${e(c.agreement.id)}/versions/{n}</code>): its hash is <code>sha256:</code> + hex SHA-256 of the RFC 8785 canonical JSON of <code>{agreementId, number, kind, previousHash, content}</code>, and each <code>previousHash</code> is the hash of the version it was based on.</li>
<li><strong>Receipts.</strong> Each is a compact JWS (EdDSA, <code>typ: accord-receipt+jws</code>): verify it with any JOSE library against <code>${e(api)}/.well-known/jwks.json</code> (by its <code>kid</code>; keys retired by a rotation stay published) and compare its <code>contentHash</code> with the version's.</li>
<li><strong>Events.</strong> <code>GET ${e(base)}/events</code>: each event's hash is <code>sha256:</code> + hex SHA-256 of the canonical JSON of the event without <code>hash</code>, and each <code>prevHash</code> is the previous event's hash; the seqs and hashes above must be found there.</li>
<li><strong>Checkpoint.</strong> Keep the JWS above (<code>typ: accord-checkpoint+jws</code>). Later, <code>POST ${e(base)}/audit/verify</code> with <code>{"checkpoints": ["…"]}</code> says whether the log still holds that hash at that seq; <code>rewritten</code> means the history it covers was changed.</li>
</ol>
</body></html>
`
}
