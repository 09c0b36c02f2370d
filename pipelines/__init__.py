"""wenmai.pipelines"""
