// SCIM's refusals (RFC 7644 section 3.12) in Gatehouse's one error taxonomy: a GatehouseError whose
// details carry the scimType, rendered by the SCIM router as the SCIM error schema.
import { GatehouseError, type ErrorCode } from '../shared/errors.js';
import { MSG_ERROR } from './scim-schema.js';

export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

function scimError(code: ErrorCode, scimType: ScimType | undefined, message: string, field?: string): GatehouseError {
  return new GatehouseError(code, message, {
    ...(field !== undefined ? { field } : {}),
    ...(scimType ? { details: { scimType } } : {}),
  });
}

export const invalidFilter = (message: string) => scimError('invalid_request', 'invalidFilter', `filter: ${message}`, 'filter');
export const invalidValue = (field: string, message: string) => scimError('invalid_request', 'invalidValue', `${field}: ${message}`, field);
export const invalidSyntax = (field: string, message: string) => scimError('invalid_request', 'invalidSyntax', `${field}: ${message}`, field);
export const invalidPath = (path: string, message: string) => scimError('invalid_request', 'invalidPath', `path "${path}": ${message}`, 'path');
export const noTarget = (path: string, message: string) => scimError('invalid_request', 'noTarget', `path "${path}": ${message}`, 'path');
export const mutability = (field: string, message: string) => scimError('invalid_request', 'mutability', `${field}: ${message}`, field);
export const uniqueness = (message: string, field: string) => scimError('conflict', 'uniqueness', message, field);
export const resourceNotFound = (type: string, id: string) => scimError('not_found', undefined, `${type} ${id} not found`);
export const preconditionFailed = (message: string) => scimError('precondition_failed', undefined, message);
export const tooMany = (message: string) => scimError('invalid_request', 'tooMany', message);
export const payloadTooLarge = (message: string) => scimError('payload_too_large', undefined, message);

export interface ScimErrorBody {
  schemas: [typeof MSG_ERROR];
  status: string;
  scimType?: ScimType;
  detail: string;
}

export function scimTypeOf(err: GatehouseError): ScimType | undefined {
  const t = err.details?.scimType;
  return typeof t === 'string' ? (t as ScimType) : undefined;
}

/** The SCIM error body; status is a string, as in RFC 7644's examples. */
export function errorBody(status: number, detail: string, scimType?: ScimType): ScimErrorBody {
  return { schemas: [MSG_ERROR], status: String(status), ...(scimType ? { scimType } : {}), detail };
}
