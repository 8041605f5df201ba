/** Maps the project's topic and group names to the cluster's, under an optional namespace. */
export class Names {
  private readonly prefix: string;
  constructor(namespace?: string) {
    this.prefix = namespace ? `${namespace}.` : '';
  }
  topic(name: string): string {
    return this.prefix + name;
  }
  logical(name: string): string {
    return this.prefix && name.startsWith(this.prefix) ? name.slice(this.prefix.length) : name;
  }
}
