// RFC 8785 (JSON Canonicalization Scheme) through the canonicalize package, typed once here.
import canonicalizeModule from 'canonicalize';

// canonicalize is CommonJS (module.exports = fn) with an `export default` declaration, so under
// NodeNext TypeScript sees a namespace where Node gives the function itself.
const serialize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** The canonical JSON text of a JSON value; throws for values JSON cannot represent. */
export function canonicalJson(value: unknown): string {
  const text = serialize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}
