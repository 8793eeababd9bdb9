// Configuration of a file connector instance: a folder the connector reads from (a drop folder an HR
// system or an export job writes into) and the files in it that are object classes, as CSV or JSON
// Lines. It holds no secret and reaches no network; it reads nothing outside its folder.
import { z } from 'zod';
import { defineConnectorConfig } from '../spi/config-schema.js';
import { OBJECT_CLASS_KINDS } from '../spi/records.js';

const fieldName = z.string().min(1).max(128);

/** One file whose records sync flows read. */
export const fileObjectClassSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lower case letters, digits, _ and -').describe('How flows name the class'),
    path: z
      .string()
      .min(1)
      .max(512)
      .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), 'must be a path inside the folder (relative, without ..)')
      .describe("The file, relative to the connector's folder"),
    format: z.enum(['csv', 'jsonl']).describe('csv (a header row names the fields) or jsonl (one JSON object per line)'),
    key: z.array(fieldName).min(1).describe('Fields identifying a record'),
    cursor: fieldName.optional().describe('A field that grows on every change (an updated-at time, a sequence): reads resume after it. Without one, every read is a full snapshot'),
    delimiter: z.string().length(1).default(',').describe('CSV field delimiter'),
    kind: z.enum(OBJECT_CLASS_KINDS).default('data').describe('data, or what its records grant'),
  })
  .strict();
export type FileObjectClassConfig = z.output<typeof fileObjectClassSchema>;
export type FileObjectClassInput = z.input<typeof fileObjectClassSchema>;

export const fileConfigSchema = z
  .object({
    directory: z
      .string()
      .min(1)
      .refine((p) => p.startsWith('/'), 'must be an absolute path')
      .describe('The folder the files are in; nothing outside it is read (symbolic links leading out are refused)'),
    objectClasses: z.array(fileObjectClassSchema).min(1).max(200).describe('The files sync flows read, each an object class'),
    maxFileBytes: z.number().int().min(1).max(2 * 1024 ** 3).default(256 * 1024 ** 2).describe('A larger file is refused rather than read'),
  })
  .strict();

export type FileConfig = z.output<typeof fileConfigSchema>;

export const fileConfig = defineConnectorConfig('file', fileConfigSchema);
