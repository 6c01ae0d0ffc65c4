/** @module Scenarios, second half (simulations/suite.ts). */
import { defineScenarioSuite } from './suite.ts';

defineScenarioSuite(1, 2);
