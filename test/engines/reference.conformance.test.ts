import { describeEngineConformance } from '@psi/testing/conformance';
import { conformanceHarness } from './conformance/plugins';

describeEngineConformance('reference engine', conformanceHarness('reference'));
