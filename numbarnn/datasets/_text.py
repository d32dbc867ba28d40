"""A public-domain English text for character-level language models."""

import gzip

from ._base import open_data_file


def load_text():
    """Load 42 plays and poems of William Shakespeare as one English text of 5,057,403 characters.

    The 36 plays of the First Folio, Pericles, and five poems: the Sonnets,
    A Lover's Complaint, The Passionate Pilgrim, The Phoenix and the Turtle
    and The Rape of Lucrece (Venus and Adonis and The Two Noble Kinsmen are
    not included). Modern spelling, apparently after the Globe edition
    (Clark and Wright, 1866). Works are in alphabetical order of their file
    names (All's Well That Ends Well first, The Winter's Tale last), each
    starting with its title in capitals and separated from the next by four
    blank lines. Plain ASCII with ``\\n`` line ends; no licence header or
    footer is present.

    Returns
    -------
    text : str
        The whole text, 5,057,403 characters.

    Notes
    -----
    Source: the plain-text Project Gutenberg editions of the works
    (late-1990s releases of public-domain texts), as prepared and shipped by
    the Open Shakespeare project of the Open Knowledge Foundation in the
    package ``shakespeare``, version 0.6: the files
    ``shksprdata/texts/*_gut.txt`` of its source distribution (the
    ``*_gut_f.txt`` First Folio transcriptions are not included). That
    project had already removed every Project Gutenberg header, footer and
    mention, as the Project Gutenberg licence allows for public-domain texts;
    here the 42 files are only stripped of leading and trailing blank lines,
    joined, and stored gzip-compressed in ``data/shakespeare.txt.gz``.

    Licence: the texts are in the public domain. The ``shakespeare`` package
    places its non-code content under the Creative Commons Attribution 2.5
    licence; this folder's README.md gives the attribution it asks for.

    Citation: none is required for a public-domain text; credit William
    Shakespeare, and the Open Shakespeare project (Open Knowledge Foundation)
    for the preparation of the files.

    Examples
    --------
    >>> from numbarnn.datasets import load_text
    >>> text = load_text()
    >>> type(text).__name__, len(text)
    ('str', 5057403)
    >>> text[:25]
    "ALL'S WELL THAT ENDS WELL"
    >>> "To be, or not to be" in text
    True
    """
    with open_data_file("shakespeare.txt.gz") as fh, gzip.open(fh, "rt", encoding="ascii", newline="") as gz:
        return gz.read()
