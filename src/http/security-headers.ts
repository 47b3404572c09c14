import helmet from 'helmet'

/**
 * The security headers of a page a browser renders (/docs and its assets, the certificate's printable page):
 * helmet's, computed once at start from a stand-in response. Its CSP has no upgrade-insecure-requests: served
 * over plain HTTP under a name that is not loopback (a container's address), it made the browser fetch /docs's
 * own assets over https, a blank page; over HTTPS it changes nothing here.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze(
  headersOf(
    helmet({
      crossOriginResourcePolicy: { policy: 'same-site' },
      contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } }
    })
  )
)

/**
 * The security headers of every other answer: JSON, problems, the calendar feed, none of which a browser renders
 * as a page. OWASP's REST Security Cheat Sheet's set, with a CSP that allows nothing at all (a JSON answer opened
 * as a document runs no script, loads nothing and cannot be framed), helmet's HSTS and cross-origin resource
 * policy, and no referrer. helmet's other headers (the DNS prefetch, download and XSS-auditor switches, the
 * origin-agent cluster, Adobe's cross-domain policies, the opener policy) only mean something to a document;
 * leaving them off answers 6 headers and 260 bytes instead of 12 and 635, on every request.
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': PAGE_SECURITY_HEADERS['strict-transport-security']!,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-site'
})

/** /docs, /docs/ and everything under them: swagger-ui's page and its assets. */
export const isDocsPage = (url: string): boolean =>
  url.startsWith('/docs') && (url.length === 5 || url[5] === '/' || url[5] === '?')

/** The headers a helmet middleware sets, captured once from a stand-in response. */
function headersOf(middleware: ReturnType<typeof helmet>): Record<string, string> {
  const headers: Record<string, string> = {}
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    }
  }
  middleware({} as never, res as never, () => {})
  return headers
}
