import net from 'node:net'

/**
 * How the proxy treats a connection:
 * - `forward`: pipes bytes both ways to the target (the database is up);
 * - `reset`: accepts, then resets the connection at once (RST: a load balancer with no backend);
 * - `close`: accepts, reads the client's first bytes, then closes gracefully (FIN, no error on
 *   the client side), as a port proxy in front of a stopped server does;
 * - `blackhole`: accepts and never answers (a dropped route, a hung server).
 */
export type ProxyMode = 'forward' | 'reset' | 'close' | 'blackhole'

export interface TcpProxy {
  /** The port it listens on; it stays the same across stop() and start(). */
  readonly port: number
  /** Listens again (on the same port) and treats new connections as `mode`. */
  start(mode?: ProxyMode): Promise<void>
  /** Stops accepting (new connections are refused) and destroys every open connection. */
  stop(): Promise<void>
  /** How many connections it has accepted so far. */
  readonly accepted: number
}

/** A TCP proxy on 127.0.0.1 in front of `target`, to simulate database outages. */
export async function startTcpProxy(
  target: { host: string; port: number },
  mode: ProxyMode = 'forward'
): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  let server: net.Server | null = null
  let port = 0
  let current = mode
  let accepted = 0

  const track = (s: net.Socket): void => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
  }

  const onConnection = (client: net.Socket): void => {
    accepted++
    track(client)
    if (current === 'reset') {
      client.resetAndDestroy()
      return
    }
    if (current === 'close') {
      client.once('data', () => client.end())
      return
    }
    if (current === 'blackhole') {
      client.pause()
      return
    }
    const upstream = net.connect(target.port, target.host)
    track(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  }

  const proxy: TcpProxy = {
    get port() {
      return port
    },
    get accepted() {
      return accepted
    },
    async start(m = current) {
      current = m
      if (server) return
      const s = net.createServer(onConnection)
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.listen({ port, host: '127.0.0.1' }, () => {
          s.off('error', reject)
          resolve()
        })
      })
      server = s
      port = (s.address() as net.AddressInfo).port
    },
    async stop() {
      const s = server
      server = null
      for (const sock of sockets) sock.destroy()
      sockets.clear()
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
    }
  }
  await proxy.start(mode)
  return proxy
}
