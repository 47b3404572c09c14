import type { DbOrTx } from '../db/client.ts'
import type { Kek } from '../keys/kek.ts'
import { type OpenedText, openPersonalTexts } from '../users/personal-text.service.ts'
import type { AppreciationRow, IncidentRow } from './incident.sql.ts'

// The personal texts of incidents and appreciations (users/personal-text.service.ts): what each is called in
// its sealing (the AAD names the column and the row), and how they are opened for their readers.

// Not Pick<Deps>: deps.ts seals old texts at start through orchestration/plain-texts.service.ts, which names these.
type Opener = { readonly kek: Kek }

export const descriptionPurpose = (incidentId: string) => `incident.description:${incidentId}`
export const answerNotePurpose = (incidentId: string) => `incident.answer-note:${incidentId}`
export const resolutionNotePurpose = (incidentId: string) => `incident.resolution-note:${incidentId}`
export const appreciationPurpose = (appreciationId: string) => `appreciation.text:${appreciationId}`

/** An incident as read: its personal texts opened (null when absent or erased). */
export type IncidentView = Omit<IncidentRow, 'description' | 'answerNote' | 'resolutionNote'> & {
  description: string | null
  answerNote: string | null
  resolutionNote: string | null
  erased: boolean
}

/** An appreciation as read: its text opened (null when its author was erased). */
export type AppreciationView = Omit<AppreciationRow, 'text'> & { text: string | null; erased: boolean }

/**
 * Incidents as their readers see them: the description (its reporter's), the answer's note (its subject's)
 * and the resolution's note (its resolver's) opened under each author's data key; `erased` when one of
 * those authors was erased and their text is gone.
 */
export async function openIncidents(deps: Opener, db: DbOrTx, rows: readonly IncidentRow[]): Promise<IncidentView[]> {
  const opened = await openPersonalTexts(
    deps,
    db,
    rows.flatMap((i) => [
      { authorId: i.reporterId, value: i.description, purpose: descriptionPurpose(i.id) },
      { authorId: i.subjectId, value: i.answerNote, purpose: answerNotePurpose(i.id) },
      { authorId: i.resolvedBy, value: i.resolutionNote, purpose: resolutionNotePurpose(i.id) }
    ])
  )
  return rows.map((i, n) => {
    const [description, answerNote, resolutionNote] = opened.slice(3 * n, 3 * n + 3) as [
      OpenedText,
      OpenedText,
      OpenedText
    ]
    return {
      ...i,
      description: description.text,
      answerNote: answerNote.text,
      resolutionNote: resolutionNote.text,
      erased: description.erased || answerNote.erased || resolutionNote.erased
    }
  })
}

/** Appreciations with their text opened under the author's data key (`erased` when the author was erased). */
export async function openAppreciations(
  deps: Opener,
  db: DbOrTx,
  rows: readonly AppreciationRow[]
): Promise<AppreciationView[]> {
  const opened = await openPersonalTexts(
    deps,
    db,
    rows.map((a) => ({ authorId: a.authorId, value: a.text, purpose: appreciationPurpose(a.id) }))
  )
  return rows.map((a, n) => ({ ...a, text: opened[n]!.text, erased: opened[n]!.erased }))
}
