"""Documents as office programs write them, for the attachment-heavy benchmark.

The small hand-built documents of tests/fixtures/generate.py are a few hundred
bytes; real ones carry what Word, Excel and PDF writers put around the text:
embedded font subsets with glyph and ToUnicode tables, compressed page
streams over several pages, styles, themes, shared strings. Reading those is
where a scanner spends its time, so the office benchmark (MH_BENCH_OFFICE=real)
attaches these instead. Made with reportlab, python-docx and openpyxl (PyPI),
deterministic for a given random generator.
"""
import io
import os

FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation"]
_fonts = None


def _register_fonts():
    global _fonts
    if _fonts is not None:
        return _fonts
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    _fonts = []
    for name, file in [("Body", "DejaVuSans.ttf"), ("BodyBold", "DejaVuSans-Bold.ttf"),
                       ("Serif", "LiberationSerif-Regular.ttf")]:
        for d in FONT_DIRS:
            path = os.path.join(d, file)
            if os.path.exists(path):
                pdfmetrics.registerFont(TTFont(name, path))
                _fonts.append(name)
                break
    return _fonts


def pdf(rng, paragraphs, table=None):
    """A report of one to four pages: embedded TrueType subsets (Identity-H
    with ToUnicode maps, as Word's 'Save as PDF' writes), a title, paragraphs
    and, if given, a table of rows."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    fonts = _register_fonts() or ["Helvetica", "Helvetica-Bold", "Times-Roman"]
    body = ParagraphStyle("body", fontName=fonts[0], fontSize=10, leading=13)
    head = ParagraphStyle("head", fontName=fonts[1 % len(fonts)], fontSize=16, leading=20)
    serif = ParagraphStyle("serif", fontName=fonts[-1], fontSize=10, leading=13)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, invariant=1, title="Rapport", author="Firma AS")
    story = [Paragraph("Rapport", head), Spacer(1, 8)]
    for i, p in enumerate(paragraphs):
        story.append(Paragraph(p, serif if i % 3 == 2 else body))
        story.append(Spacer(1, 6))
    if table:
        t = Table(table)
        t.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), fonts[0], 9),
                               ("GRID", (0, 0), (-1, -1), 0.5, colors.grey)]))
        story.append(t)
    doc.build(story)
    return out.getvalue()


def docx(rng, paragraphs, table=None):
    """A Word document from python-docx's default template (styles, theme,
    numbering, settings, font table), headings, paragraphs in runs and, if
    given, a table."""
    import docx as pydocx
    d = pydocx.Document()
    d.core_properties.author = "Firma AS"
    d.add_heading("Notat", level=1)
    for p in paragraphs:
        para = d.add_paragraph()
        words = p.split(" ")
        # Word splits text into runs at every edit and formatting change.
        at = 0
        while at < len(words):
            n = rng.randint(3, 9)
            run = para.add_run(" ".join(words[at:at + n]) + (" " if at + n < len(words) else ""))
            run.bold = rng.random() < 0.1
            at += n
    if table:
        t = d.add_table(rows=0, cols=len(table[0]))
        for row in table:
            cells = t.add_row().cells
            for c, v in zip(cells, row):
                c.text = str(v)
    out = io.BytesIO()
    d.save(out)
    return _fixed_zip_times(out.getvalue())


def xlsx(rng, header, rows):
    """An Excel workbook from openpyxl: shared strings, styles, theme, a
    header row in bold and the rows (numbers as numbers)."""
    import openpyxl
    from openpyxl.styles import Font
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Ark1"
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    wb.properties.creator = "Firma AS"
    out = io.BytesIO()
    wb.save(out)
    return _fixed_zip_times(out.getvalue())


def _fixed_zip_times(data):
    """The same archive with fixed member times, so a seed gives the same bytes."""
    import zipfile
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2025, 6, 2, 9, 30, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()
