/**
 * Trigger declarations: what a user declared, as opposed to what was computed from the clock when the
 * trigger was built. `replaceExisting` keeps a stored schedule when the declared trigger is the same
 * declaration as the stored one.
 */
import type { Trigger, TriggerSpec } from './trigger.js';

/** A trigger's definition: `trigger.definition()` when it has one, else its `toJSON()`. */
export function triggerDefinition(trigger: Trigger): TriggerSpec {
  return trigger.definition?.() ?? trigger.toJSON();
}

/**
 * True when `stored` (typically rebuilt from a store with `fromJSON`, so every value explicit) is the
 * declaration `declared` makes: its spec equals `declared`'s definition, except that a key `declared`
 * left out of its definition because it was defaulted from the clock (a key of `declared.toJSON()` that
 * `triggerDefinition(declared)` lacks, such as an `IntervalTrigger`'s default `startAt`) is ignored in
 * `stored`, recursively through combining triggers. A key the declaration does not have at all (an
 * `endAt` removed since) makes them differ. Pass `declared` as it would be stored, its default zone
 * filled in (`withDefaultTimezone`).
 */
export function sameTriggerDeclaration(declared: Trigger, stored: Trigger): boolean {
  return matchesDefinition(triggerDefinition(declared), declared.toJSON(), stored.toJSON());
}

/** A JSON value of a spec. */
type SpecValue = unknown;
/** A JSON object of a spec. */
type SpecObject = Record<string, unknown>;

/**
 * True when `stored` equals `definition`, keys of `full` (the declared trigger's `toJSON()`) that
 * `definition` lacks being ignored in `stored`.
 */
function matchesDefinition(definition: SpecValue, full: SpecValue, stored: SpecValue): boolean {
  if (Array.isArray(definition)) {
    const fullItems: readonly unknown[] = Array.isArray(full) ? full : [];
    return (
      Array.isArray(stored) &&
      stored.length === definition.length &&
      definition.every((item, index) => matchesDefinition(item, fullItems[index], stored[index]))
    );
  }
  if (isSpecObject(definition)) {
    return isSpecObject(stored) && objectMatches(definition, isSpecObject(full) ? full : {}, stored);
  }
  return Object.is(definition, stored);
}

function objectMatches(definition: SpecObject, full: SpecObject, stored: SpecObject): boolean {
  const declaredKeys = definedKeys(definition);
  const defaultedKeys = new Set(definedKeys(full).filter((key) => !declaredKeys.includes(key)));
  const storedKeys = definedKeys(stored).filter((key) => !defaultedKeys.has(key));
  return (
    storedKeys.length === declaredKeys.length &&
    declaredKeys.every((key) => key in stored && matchesDefinition(definition[key], full[key], stored[key]))
  );
}

/** The keys of an object whose values are not `undefined` (JSON drops those). */
function definedKeys(object: SpecObject): string[] {
  return Object.keys(object).filter((key) => object[key] !== undefined);
}

function isSpecObject(value: unknown): value is SpecObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
