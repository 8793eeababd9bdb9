// A browser reduced to what sign-in tests need: a cookie jar per host (honouring Path-less hosts,
// Max-Age and deletion) and redirects followed one hop at a time, so a test can stop at any hop,
// read it, or tamper with it.
import { parseSetCookie } from 'cookie';

export interface Hop {
  url: string;
  status: number;
  location?: string;
  setCookies: ReturnType<typeof parseSetCookie>[];
}

export class TestBrowser {
  private readonly jar = new Map<string, Map<string, { value: string; expires?: number }>>();

  cookie(url: string, name: string): string | undefined {
    const entry = this.jar.get(new URL(url).hostname)?.get(name);
    return entry && (entry.expires === undefined || entry.expires > Date.now()) ? entry.value : undefined;
  }

  setCookie(url: string, name: string, value: string): void {
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    this.jar.get(host)!.set(name, { value });
  }

  clearCookies(url: string): void {
    this.jar.delete(new URL(url).hostname);
  }

  private cookieHeader(url: string): string | undefined {
    const cookies = this.jar.get(new URL(url).hostname);
    if (!cookies) return undefined;
    const now = Date.now();
    const pairs = [...cookies].filter(([, c]) => c.expires === undefined || c.expires > now).map(([n, c]) => `${n}=${c.value}`);
    return pairs.length ? pairs.join('; ') : undefined;
  }

  /** One request, no redirects followed; Set-Cookie lands in the jar. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response & { hop: Hop }> {
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(url);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    const host = new URL(url).hostname;
    const setCookies = res.headers.getSetCookie().map((line) => parseSetCookie(line));
    for (const c of setCookies) {
      if (!this.jar.has(host)) this.jar.set(host, new Map());
      const cookies = this.jar.get(host)!;
      const expires = c.maxAge !== undefined ? Date.now() + c.maxAge * 1000 : c.expires?.getTime();
      if (expires !== undefined && expires <= Date.now()) cookies.delete(c.name);
      else cookies.set(c.name, { value: c.value ?? '', ...(expires !== undefined ? { expires } : {}) });
    }
    const location = res.headers.get('location');
    const hop: Hop = { url, status: res.status, ...(location ? { location: new URL(location, url).href } : {}), setCookies };
    return Object.assign(res, { hop });
  }

  /** Follows redirects from `url` until one points at a URL `stop` accepts (returned unfetched), or none is left. */
  async followUntil(url: string, stop: (next: string) => boolean, maxHops = 20): Promise<{ hops: Hop[]; stoppedAt?: string; last: Response }> {
    const hops: Hop[] = [];
    let next = url;
    for (let i = 0; i < maxHops; i++) {
      const res = await this.fetch(next);
      hops.push(res.hop);
      if (!res.hop.location) return { hops, last: res };
      await res.arrayBuffer();
      if (stop(res.hop.location)) return { hops, stoppedAt: res.hop.location, last: res };
      next = res.hop.location;
    }
    throw new Error(`more than ${maxHops} redirects from ${url}: ${hops.map((h) => `${h.status} ${h.url}`).join(' -> ')}`);
  }
}
