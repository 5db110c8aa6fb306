import { describeEngineConformance } from '@psi/testing/conformance';
import { conformanceHarness } from './conformance/plugins';

describeEngineConformance('bpmn-engine plugin', conformanceHarness('bpmn-engine'));
