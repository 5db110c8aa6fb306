import * as fs from 'node:fs';
import * as path from 'node:path';

/** The file name of the procurement process model, beside this module's source. */
export const PROCUREMENT_BPMN_FILE = 'procurement.bpmn';

/**
 * Where `procurement.bpmn` is looked for: beside this module (running from source, e.g. jest),
 * then in the source folder when running from the build output (`samples/dist/procurement-bpmn`,
 * which `tsc` fills with JavaScript only).
 */
export function procurementBpmnCandidates(dirname: string = __dirname): string[] {
  return [
    path.join(dirname, PROCUREMENT_BPMN_FILE),
    path.resolve(dirname, '..', '..', 'procurement-bpmn', PROCUREMENT_BPMN_FILE),
  ];
}

/**
 * Reads the procurement BPMN 2.0 XML from the sample's source folder, wherever this module runs
 * from (source or `samples/dist`).
 * @throws Error naming every place looked at when the file is in none of them.
 */
export function loadProcurementBpmn(dirname: string = __dirname): string {
  const candidates = procurementBpmnCandidates(dirname);
  const found = candidates.find((file) => fs.existsSync(file));
  if (found === undefined) {
    throw new Error(
      `${PROCUREMENT_BPMN_FILE} not found; looked at ${candidates.join(', ')}. ` +
        'It lives in samples/procurement-bpmn/; run from a checkout of the repository.',
    );
  }
  return fs.readFileSync(found, 'utf8');
}
