"""A confusion matrix drawn as a PNG with PIL (rows: true class, columns: predicted)."""
from pathlib import Path

from PIL import Image, ImageDraw

CELL = 36
LABEL_WIDTH = 90


def save_confusion_png(confusion: list[list[int]], classes: list[str], title: str, path: str | Path) -> None:
    n = len(classes)
    top = 40 + LABEL_WIDTH  # the title, then the column labels written vertically
    image = Image.new("RGB", (LABEL_WIDTH + n * CELL + 10, top + n * CELL + 10), "white")
    draw = ImageDraw.Draw(image)
    draw.text((5, 5), title, fill="black")
    draw.text((5, 20), "rows: true class, columns: predicted", fill="gray")
    for i, name in enumerate(classes):
        draw.text((5, top + i * CELL + CELL // 2 - 5), name[:14], fill="black")
        column = Image.new("RGB", (LABEL_WIDTH - 5, 12), "white")
        ImageDraw.Draw(column).text((0, 0), name[:14], fill="black")
        image.paste(column.rotate(90, expand=True), (LABEL_WIDTH + i * CELL + CELL // 2 - 6, 40))
    for i, row in enumerate(confusion):
        total = max(sum(row), 1)
        for j, count in enumerate(row):
            shade = int(255 * (1 - count / total))
            box = (LABEL_WIDTH + j * CELL, top + i * CELL, LABEL_WIDTH + (j + 1) * CELL, top + (i + 1) * CELL)
            draw.rectangle(box, fill=(shade, shade, 255), outline="gray")
            if count:
                draw.text((box[0] + 12, box[1] + 12), str(count), fill="white" if shade < 128 else "black")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
