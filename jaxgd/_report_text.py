"""The report's fixed strings, in English and in Persian (``jaxgd reproduce --lang fa``).

The Persian terms follow the notes (``SEED.md``; the OCR text is
``seed/gradient-descent-notes.fa.txt``): like the notes, English technical names (Gradient
Descent, Learning Rate, Momentum, Batch, Dropout, ...) stay in Latin script where the notes
write them so. :class:`Texts` picks one language for :mod:`jaxgd.report`; on the Persian page
numbers are wrapped in ``<bdi>`` so that they read left to right inside the right-to-left text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

LANGUAGES = ("en", "fa")

EN = {
    "title": "jaxgd: the notes on gradient descent, reproduced",
    "tally": "{experiments} experiments, {passed} of {claims} checked claims pass.",
    "note": "",
    "contents": "Experiments",
    "topics": "Topics of the notes",
    "claim": "claim",
    "measured": "measured",
    "expected": "expected",
    "verdict": "verdict",
    "PASS": "PASS",
    "FAIL": "FAIL",
}

# The report's fixed sentences and labels; the keys are EN's.
FA = {
    "title": "jaxgd: بازتولید جزوه گرادیان کاهشی (Gradient Descent)",
    "tally": "{experiments} آزمایش؛ {passed} ادعا از {claims} ادعای بررسی‌شده درست است.",
    "note": (
        "عنوان‌ها و برچسب‌های این گزارش فارسی است؛ توضیحات، زیرنویس شکل‌ها، جدول‌ها و متن "
        "ادعاها را خود آزمایش‌ها می‌نویسند و به انگلیسی مانده‌اند. اعداد و کد از چپ به راست "
        "نوشته شده‌اند."
    ),
    "contents": "فهرست آزمایش‌ها",
    "topics": "مبحث جزوه",
    "claim": "ادعا",
    "measured": "مقدار اندازه‌گیری‌شده",
    "expected": "مقدار مورد انتظار",
    "verdict": "نتیجه",
    "PASS": "درست",
    "FAIL": "نادرست",
}

# The notes' topics (the numbering of SEED.md), named as the notes name them.
FA_TOPICS = {
    1: "یادگیری: Forward Propagation، تابع خطا (Loss) و Backward Propagation",
    2: "خروجی نورون: ŷ = Σ wᵢxᵢ + b",
    3: "تابع خطا: میانگین مربعات خطا (MSE)",
    4: "بهینه‌ساز (Optimizer): مراحل Gradient Descent و قانون به‌روزرسانی وزن‌ها",
    5: "نرخ یادگیری (Learning Rate): خیلی کوچک، خیلی بزرگ",
    6: "نرخ‌های یادگیری 0.1، 0.3، 0.8 و 0.9",
    7: "تابع هزینه محدب و نامحدب (Convex و Non-Convex): Local Minimum، Global Minimum و Plateau",
    8: "گرادیان (Gradient)، مشتق جزئی و مشتق زنجیره‌ای",
    9: "Backpropagation در MLP: مثال حل‌شده",
    10: "انواع Gradient Descent: Epoch و Batch؛ Batch، Stochastic و mini-batch",
    11: "مومنتوم (Momentum) و Nesterov Accelerated Gradient",
    12: "روش‌های تطبیقی نرخ یادگیری: AdaGrad، RMSprop و Adam",
    13: "تنظیم hyperparameterها: Grid Search و Random Search",
    14: "حساسیت به مقدار اولیه: مقداردهی تصادفی (Random Initialization) و انتخاب تابع فعال‌سازی",
    15: "Batch Normalization و Dropout",
    16: "Feature Scaling (Normalization)",
}

# Each experiment's heading, by the experiment's name; an experiment missing here keeps its
# own (English) title.
FA_TITLES = {
    "gd-linear": "گرادیان کاهشی روی داده‌های خطی کتاب Géron",
    "learning-rate": "نرخ یادگیری: خیلی کوچک، مناسب، خیلی بزرگ",
    "four-rates": "چهار نرخ یادگیری جزوه روی یک تابع درجه دوم محدب",
    "non-convex": "تابع هزینه نامحدب: Gradient Descent به کدام کمینه می‌رسد",
    "worked-example": "مثال حل‌شده Backpropagation (شبکه 2-2-2)",
    "gd-variants": "انواع Gradient Descent: Batch، Stochastic و mini-batch",
    "optimizers": "Momentum، Nesterov و روش‌های تطبیقی روی سه سطح",
    "search": "Grid Search در برابر Random Search با بودجه برابر",
    "initialisation": "مقداردهی اولیه، توابع فعال‌سازی و Dropout",
    "feature-scaling": "Feature Scaling: تعداد گام‌ها تا همگرایی در برابر عدد وضعیت",
    "gradient": "گرادیان، مشتق جزئی و قاعده زنجیره‌ای",
    "real-vanishing": "محوشدن گرادیان (Vanishing Gradient) روی داده واقعی سرطان سینه: "
    "Sigmoid، ReLU و Leaky ReLU",
    "real-digits": "ارقام دست‌نویس: Softmax، Adam و Dropout (جایگزین آفلاین MNIST)",
    "real-regression": "رگرسیون روی داده واقعی دیابت: Feature Scaling، MAE و R²",
    "early-stopping": "توقف زودهنگام (Early Stopping) و انتخاب با داده اعتبارسنجی (Validation)",
}

_TOPIC_NUMBERS = re.compile(r"(\d+)(?:\s*[–-]\s*(\d+))?")


class Texts:
    """The fixed strings of the report in one language, and how numbers and the experiments'
    own (English) text sit in it."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(
                f"unknown report language {lang!r}; choose from {', '.join(LANGUAGES)}"
            )
        self.lang = lang
        self.rtl = lang == "fa"
        if self.rtl:
            self.words, self.topic_names, self.titles = FA, FA_TOPICS, FA_TITLES
        else:
            self.words, self.topic_names, self.titles = EN, {}, {}

    def __getitem__(self, key: str) -> str:
        return self.words[key]

    @property
    def en(self) -> str:
        """The attributes that mark the experiments' English text inside the page."""
        return ' dir="ltr" lang="en"' if self.rtl else ""

    def tally(self, summaries: Sequence[Mapping[str, Any]], html: bool) -> str:
        n_claims = sum(len(s["claims"]) for s in summaries)
        n_passed = sum(c["passed"] for s in summaries for c in s["claims"])
        counts = {"experiments": len(summaries), "passed": n_passed, "claims": n_claims}
        if html and self.rtl:
            counts = {k: f"<bdi>{v}</bdi>" for k, v in counts.items()}
        return self["tally"].format(**counts)

    def title(self, s: Mapping[str, Any]) -> str | None:
        """The experiment's heading in this language, or None where it keeps its own."""
        return self.titles.get(s["name"])

    def topics(self, s: Mapping[str, Any]) -> list[tuple[int, str]]:
        """The notes' topics an experiment covers, named in this language (empty in English
        and where its ``topics`` does not start with "topic N" or "topics N–M")."""
        head, _, _ = s["topics"].partition(":")
        if not self.topic_names or not head.startswith("topic"):
            return []
        numbers = []
        for first, last in _TOPIC_NUMBERS.findall(head):
            numbers += range(int(first), int(last or first) + 1)
        return [(n, self.topic_names[n]) for n in numbers if n in self.topic_names]
