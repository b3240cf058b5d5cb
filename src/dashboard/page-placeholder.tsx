import type { ComponentChildren } from 'preact';

/** A page whose data the control plane cannot give yet: says so plainly instead of showing an empty table. */
export function PagePlaceholder({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="placeholder">
      <h1 tabIndex={-1}>{title}</h1>
      <p>{children}</p>
    </section>
  );
}
