// Where a browser may be sent back to after signing in: paths on this server only.
import { describe, expect, it } from 'vitest';
import { safeReturnTo } from './oidc-sign-in.js';

describe('the return address after sign-in', () => {
  it('keeps a path on this server', () => {
    expect(safeReturnTo('/runs?page=2#top')).toBe('/runs?page=2#top');
    expect(safeReturnTo('/')).toBe('/');
  });

  it('refuses anything that could leave the server', () => {
    for (const bad of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', 'runs', '', '/x\r\nSet-Cookie: a=b', undefined, 42, ['/a']]) {
      expect(safeReturnTo(bad), String(bad)).toBe('/');
    }
  });
});
