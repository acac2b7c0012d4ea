/**
 * The one way the dashboard writes HTML: the `html` tagged template escapes every interpolated value
 * unless it is already `Html` (made by `html` itself or, for text the code wrote, `trusted`). Run ids,
 * workflow names, errors, stacks and stored values all come from the database or from a request, so
 * nothing a user controls can reach a page unescaped unless someone calls `trusted` on it.
 */

/** Markup that is safe to write as it is. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
}

/** Anything a template may interpolate: text and numbers are escaped, arrays joined, null, undefined and false dropped. */
export type HtmlValue = Html | string | number | bigint | boolean | null | undefined | readonly HtmlValue[]

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text for an element's content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!)
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.text
  // null, undefined and false render nothing, so `${cond && html`…`}` reads naturally.
  if (value === null || value === undefined || value === false) return ''
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

/**
 * Builds markup, escaping each interpolated value.
 *
 * @example
 * html`<td class="id">${run.id}</td>` // a run id of `<b>` renders as the text `<b>`
 */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let text = strings[0]!
  for (let i = 0; i < values.length; i++) text += render(values[i]!) + strings[i + 1]!
  return new Html(text)
}

/** Markup the dashboard's own code wrote (an SVG built from numbers, an embedded asset): never user data. */
export function trusted(text: string): Html {
  return new Html(text)
}
