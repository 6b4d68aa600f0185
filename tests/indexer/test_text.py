from indexer.text import normalize, strip_chat_markup


def test_normalize_traditional_fullwidth_case_and_markup(processor):
    text = "【问题】憑證過賬失敗　ＰＯ－２０２４－０３１５ @李工 [图片] 😂"
    norm = processor.normalize(text)
    assert "凭证过账失败" in norm
    assert "po-2024-0315" in norm
    assert "问题" not in norm and "李工" not in norm and "图片" not in norm and "😂" not in norm


def test_strip_chat_markup_keeps_content():
    assert strip_chat_markup("【期望结果】能正常出库").strip() == "能正常出库"


def test_codes_stay_whole_and_words_and_char_ngrams_present(processor):
    tokens = processor.tokenize("PO-2024-0315 入库时报错 E1234，用 ME21N 改不了")
    assert "po-2024-0315" in tokens
    assert "e1234" in tokens and "me21n" in tokens
    assert "2024" not in tokens  # the code is not split into parts
    assert "入库" in tokens or "入库时" in tokens
    assert "报错" in tokens
    assert "库" in tokens  # char unigram
    assert "入库" in tokens  # char bigram


def test_erp_dictionary_keeps_domain_words(processor):
    tokens = processor.tokenize("红字发票和反过账")
    assert "红字发票" in tokens
    assert "反过账" in tokens


def test_stopwords_dropped(processor):
    tokens = processor.tokenize("请问一下怎么办")
    assert "请问" not in tokens and "一下" not in tokens


def test_module_level_normalize_without_converter():
    assert normalize("ＡＢＣ　１２３") == "abc 123"
