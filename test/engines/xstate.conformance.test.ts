import { describeEngineConformance } from '@psi/testing/conformance';
import { conformanceHarness } from './conformance/plugins';

describeEngineConformance('xstate plugin', conformanceHarness('xstate'));
