/** The error `build` throws, or undefined if it returns: to assert on an error's class and fields together. */
export function thrown(build: () => unknown): unknown {
  try {
    build();
  } catch (error) {
    return error;
  }
  return undefined;
}
